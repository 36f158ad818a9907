//! [`WalJournal`]: the pipeline's [`Journal`] on the storage crate's write-ahead log — what makes
//! a driver's batch durable before it is acknowledged — and the checkpoint loop that drops WAL
//! segments once their rows are in durable Parquet files.
//!
//! `submit` encodes the batch, appends it to the WAL and registers its LSN with the pipeline's
//! [`SeqTracker`] under one lock (so LSNs are registered in order), then forwards the batch to the
//! pipeline tagged with that LSN. `wait_durable` is the WAL's group-commit wait.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use wardstream_pipeline::{FeedError, IngestBatch, Inlet, Journal, SeqTracker};
use wardstream_storage::wal::{Wal, encode_batch};

/// See the module docs.
pub struct WalJournal {
    wal: Arc<Wal>,
    inlet: Inlet,
    tracker: Arc<SeqTracker>,
    order: Mutex<()>,
}

impl std::fmt::Debug for WalJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalJournal").field("wal", &self.wal).finish_non_exhaustive()
    }
}

impl WalJournal {
    /// A journal appending to `wal` and forwarding to `inlet`; `tracker` is the pipeline's.
    pub fn new(wal: Arc<Wal>, inlet: Inlet, tracker: Arc<SeqTracker>) -> WalJournal {
        WalJournal { wal, inlet, tracker, order: Mutex::new(()) }
    }
}

impl Journal for WalJournal {
    fn submit(&self, batch: IngestBatch) -> Result<u64, (FeedError, IngestBatch)> {
        let body = encode_batch(&batch);
        let lsn = {
            let _in_order = self.order.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match self.wal.append(&body) {
                Ok(lsn) => {
                    self.tracker.register(lsn);
                    lsn
                }
                Err(e) => return Err((FeedError::Log(e.to_string()), batch)),
            }
        };
        self.inlet.send_sequenced(Some(lsn), batch).map_err(|b| (FeedError::Closed, b))?;
        Ok(lsn)
    }

    fn wait_durable(&self, seq: u64) -> Result<(), FeedError> {
        self.wal.wait_durable(seq).map_err(|e| FeedError::Log(e.to_string()))
    }
}

/// Checkpoints the WAL every `every` up to the pipeline's persisted watermark, until `stop`
/// turns true; a last checkpoint is taken on the way out (after the pipeline flushed).
pub fn spawn_checkpointer(
    wal: Arc<Wal>,
    tracker: Arc<SeqTracker>,
    every: Duration,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("wal-checkpoint".into()).spawn(move || {
        loop {
            let stopping = stop.load(std::sync::atomic::Ordering::Acquire);
            checkpoint_once(&wal, &tracker);
            if stopping {
                return;
            }
            // In short steps, so that a stop request is seen at once whatever the interval.
            let until = std::time::Instant::now() + every;
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                let left = until.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(Duration::from_millis(20)));
            }
        }
    })
}

/// One checkpoint up to the persisted watermark (never beyond what the WAL has appended).
pub fn checkpoint_once(wal: &Wal, tracker: &SeqTracker) {
    let persisted = tracker.persisted().min(wal.next_lsn().saturating_sub(1));
    if persisted > wal.checkpoint_lsn() {
        match wal.checkpoint(persisted) {
            Ok(deleted) => tracing::debug!(persisted, deleted, "WAL checkpoint"),
            Err(error) => tracing::error!(%error, persisted, "WAL checkpoint failed; retrying later"),
        }
    }
}
