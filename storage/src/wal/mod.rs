//! The write-ahead log: where readings become durable before anyone acknowledges them.
//!
//! A driver encodes what it received ([`batch_codec`]), [`Wal::append`]s it (an LSN back at
//! once, no fsync), and acknowledges the sender (MQTT PUBACK, HL7 ACK) only after
//! [`Wal::wait_durable`] returns `Ok` or a [`WalEvent::Durable`] covers the LSN. One fsync
//! covers every record appended before it (group commit, at most one round per
//! [`WalConfig::group_commit_interval_ms`]). Parquet files are written later from the
//! pipeline; once they are durable, [`Wal::checkpoint`] drops the segments they cover.
//! After a crash, [`Wal::open`] returns a [`Replay`] of every record after the checkpoint.
//!
//! ```text
//! <dir>/00000000000000000001.wal   segments named by their first LSN: [len|crc|lsn|body]…
//! <dir>/00000000000000004711.wal   a new one once the current would exceed segment_bytes
//! <dir>/checkpoint                 LSN up to which everything is in Parquet (atomic rename)
//! ```
//!
//! Modules: [`record`] (framing, sans-I/O scanner), [`segment`] (files), `append` (the
//! producer side), `commit` (the sync thread), [`replay`] (start-up), [`checkpoint`],
//! [`events`], [`stats`], [`fault`] (test hook), [`batch_codec`] (`IngestBatch` ⇄ bytes).
//!
//! ```
//! use wardstream_storage::wal::{Wal, WalConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let (wal, replay) = Wal::open(WalConfig::test_config(dir.path()))?;
//! assert_eq!(replay.count(), 0);
//! let lsn = wal.append(b"reading")?;
//! wal.wait_durable(lsn)?; // now it may be acknowledged
//! wal.close()?;
//!
//! let (_wal, replay) = Wal::open(WalConfig::test_config(dir.path()))?;
//! let bodies: Vec<Vec<u8>> = replay.map(|r| r.map(|r| r.body)).collect::<Result<_, _>>()?;
//! assert_eq!(bodies, vec![b"reading".to_vec()]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod append;
pub mod batch_codec;
pub mod checkpoint;
mod codec_io;
mod commit;
pub mod config;
pub mod error;
pub mod events;
pub mod fault;
pub mod record;
pub mod replay;
pub mod segment;
pub mod stats;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;

pub use batch_codec::{CodecError, decode_batch, encode_batch};
pub use config::WalConfig;
pub use error::{Lsn, WalError};
pub use events::{Durability, WalEvent};
pub use fault::{FaultInjector, IoOp};
pub use record::MAX_BODY_BYTES;
pub use replay::{CorruptRegion, Replay, ReplayReport, TornTail, WalRecord};
pub use stats::{LatencySummary, WalStats, WalStatsSnapshot};

use checkpoint::{StoredCheckpoint, read_checkpoint};
use commit::{Shared, State};
use fault::Faults;
use segment::{create_dir_durable, list_segments};
use wardstream_pipeline::IngestBatch;

/// The write-ahead log. `Send + Sync`: share it (`Arc<Wal>`) between every producer.
pub struct Wal {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    checkpoint_lock: Mutex<()>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").field("dir", &self.shared.config.dir).field("durable_lsn", &self.durable_lsn()).finish()
    }
}

impl Wal {
    /// Opens (or creates) the log in `config.dir`: reads the checkpoint, scans the segments
    /// after it (cutting torn tails, reporting corrupt regions), and starts the sync thread.
    /// Replay the returned records into the pipeline before checkpointing.
    pub fn open(config: WalConfig) -> Result<(Wal, Replay), WalError> {
        Wal::open_with_faults(config, None)
    }

    /// [`Wal::open`] with a [`FaultInjector`] consulted before every filesystem operation.
    pub fn open_with_faults(
        config: WalConfig,
        faults: Option<Arc<dyn FaultInjector>>,
    ) -> Result<(Wal, Replay), WalError> {
        config.validate()?;
        create_dir_durable(&config.dir)?;
        let (checkpoint, checkpoint_corrupt) = match read_checkpoint(&config.dir)? {
            StoredCheckpoint::Missing => (0, false),
            StoredCheckpoint::At(lsn) => (lsn, false),
            StoredCheckpoint::Corrupt => {
                tracing::error!(dir = %config.dir.display(), "WAL checkpoint file is damaged; replaying every segment (expect duplicates)");
                (0, true)
            }
        };
        let segments = list_segments(&config.dir)?;
        let (mut report, to_replay) = replay::scan(&segments, checkpoint)?;
        report.checkpoint_corrupt = checkpoint_corrupt;
        log_report(&report);
        let stats = Arc::new(WalStats::default());
        let torn: u64 = report.torn_tails.iter().map(|t| t.bytes_cut).sum();
        stats.count_replay(report.corrupt.len() as u64, report.torn_tails.len() as u64, torn);
        let last = report.next_lsn - 1;
        let state = State {
            next_lsn: report.next_lsn,
            written_lsn: last,
            durable_lsn: last,
            settled_lsn: last,
            segments,
            checkpoint,
            thread_alive: true,
            ..State::default()
        };
        let shared = Arc::new(Shared {
            config,
            faults: Faults::new(faults),
            stats,
            state: Mutex::new(state),
            work: Condvar::new(),
            settled: Condvar::new(),
            durable_lsn: AtomicU64::new(last),
            senders: Mutex::new(Vec::new()),
            callbacks: Mutex::new(Vec::new()),
        });
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("wal-sync".into())
            .spawn(move || commit::run(&for_thread))
            .map_err(|e| WalError::io("spawn sync thread", &shared.config.dir, e))?;
        let wal = Wal { shared, thread: Mutex::new(Some(thread)), checkpoint_lock: Mutex::new(()) };
        Ok((wal, Replay::new(report, to_replay)))
    }

    /// Writes a record (no fsync) and returns its LSN. It becomes durable with the next group
    /// commit; until [`Wal::wait_durable`] returns `Ok` for it (or a [`WalEvent::Durable`]
    /// covers it), nothing may be acknowledged. On `Err` nothing was appended (no LSN is
    /// used, no partial record stays); the next call retries, so the log resumes by itself
    /// when the disk has room again.
    pub fn append(&self, body: &[u8]) -> Result<Lsn, WalError> {
        append::append(&self.shared, body)
    }

    /// [`Wal::append`] of an [`IngestBatch`] in the [`batch_codec`] encoding.
    pub fn append_batch(&self, batch: &IngestBatch) -> Result<Lsn, WalError> {
        self.append(&encode_batch(batch))
    }

    /// Blocks until an fsync covering `lsn` completed (`Ok`: acknowledge it) or failed
    /// ([`WalError::NotDurable`]: never acknowledge it; the sender must redeliver).
    pub fn wait_durable(&self, lsn: Lsn) -> Result<(), WalError> {
        let mut state = self.shared.lock();
        loop {
            if lsn == 0 || lsn >= state.next_lsn {
                return Err(WalError::UnknownLsn { lsn, next: state.next_lsn });
            }
            if let Some(error) = state.failed.find(lsn) {
                return Err(error);
            }
            if lsn <= state.durable_lsn {
                return Ok(());
            }
            if state.stop_now || (state.closing && !state.thread_alive) {
                return Err(WalError::Closed);
            }
            if !state.thread_alive {
                return Err(WalError::SyncThreadStopped);
            }
            state = self.shared.settled.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The highest LSN covered by a successful fsync, without blocking. Records below it that
    /// a [`WalEvent::Failed`] named are **not** durable: use [`Wal::state_of`] for one LSN.
    pub fn durable_lsn(&self) -> Lsn {
        self.shared.durable_lsn.load(Ordering::Acquire)
    }

    /// What has become of `lsn`, without blocking.
    pub fn state_of(&self, lsn: Lsn) -> Durability {
        self.shared.lock().state_of(lsn)
    }

    /// The LSN the next append gets.
    pub fn next_lsn(&self) -> Lsn {
        self.shared.lock().next_lsn
    }

    /// A channel receiving every [`WalEvent`] from now on, in order (non-blocking for async
    /// callers: poll it, or use [`Wal::on_event`] to forward into an async channel).
    pub fn subscribe(&self) -> mpsc::Receiver<WalEvent> {
        let (tx, rx) = mpsc::channel();
        self.shared.senders.lock().unwrap_or_else(PoisonError::into_inner).push(tx);
        rx
    }

    /// Calls `callback` with every [`WalEvent`] from now on, in order, on the sync thread.
    /// Keep it short and non-blocking (e.g. send into a `tokio::sync::mpsc` channel); it must
    /// not call [`Wal::wait_durable`], [`Wal::subscribe`] or [`Wal::on_event`].
    pub fn on_event(&self, callback: impl Fn(&WalEvent) + Send + Sync + 'static) {
        self.shared.callbacks.lock().unwrap_or_else(PoisonError::into_inner).push(Box::new(callback));
    }

    /// Declares every record with LSN ≤ `persisted` durable elsewhere (Parquet): deletes every
    /// segment whose records are all ≤ `persisted` (never the newest segment), fsyncs the
    /// directory, then writes the checkpoint atomically, so replay starts after it even when no
    /// segment could be deleted. Returns the number of segments deleted. A checkpoint at or
    /// below the current one does nothing; one at or beyond [`Wal::next_lsn`] is an error.
    pub fn checkpoint(&self, persisted: Lsn) -> Result<usize, WalError> {
        let _one_at_a_time = self.checkpoint_lock.lock().unwrap_or_else(PoisonError::into_inner);
        checkpoint::checkpoint(&self.shared, persisted)
    }

    /// The current checkpoint LSN (0: none).
    pub fn checkpoint_lsn(&self) -> Lsn {
        self.shared.lock().checkpoint
    }

    /// The counters (shared; read with [`WalStats::snapshot`]).
    pub fn stats(&self) -> Arc<WalStats> {
        Arc::clone(&self.shared.stats)
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.shared.config.dir
    }

    /// Makes everything appended durable, stops the sync thread and refuses further appends.
    /// `Ok` when the last record appended is durable.
    pub fn close(&self) -> Result<(), WalError> {
        self.stop(false);
        let state = self.shared.lock();
        let last = state.written_lsn;
        match state.state_of(last) {
            Durability::Durable | Durability::Unknown => Ok(()),
            Durability::Failed => Err(state.failed.find(last).unwrap_or(WalError::Closed)),
            Durability::Pending => Err(WalError::Closed),
        }
    }

    fn stop(&self, now: bool) {
        {
            let mut state = self.shared.lock();
            state.closing = true;
            state.stop_now |= now;
        }
        self.shared.work.notify_all();
        let handle = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("the WAL sync thread panicked");
        }
    }
}

impl Drop for Wal {
    /// Stops the sync thread without a final fsync, like a crash would (call [`Wal::close`]
    /// for an orderly shutdown).
    fn drop(&mut self) {
        self.stop(true);
    }
}

fn log_report(report: &ReplayReport) {
    for tail in &report.torn_tails {
        tracing::warn!(segment = %tail.segment.display(), offset = tail.offset, bytes = tail.bytes_cut, "cut a torn WAL record (a write cut short by a crash)");
    }
    for region in &report.corrupt {
        tracing::error!(segment = %region.segment.display(), offset = region.offset, bytes = region.bytes, lsns = ?region.lsns, "skipped a corrupt WAL region; its records are lost");
    }
    tracing::info!(
        records = report.records,
        segments = report.segments,
        checkpoint = report.checkpoint,
        next_lsn = report.next_lsn,
        "WAL opened"
    );
}
