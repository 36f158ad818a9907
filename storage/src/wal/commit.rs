//! Group commit: the state shared by producers and the sync thread, and the sync thread itself.
//!
//! Producers write records into the active segment under the state lock (a `pwrite` into the
//! page cache, no fsync). The sync thread wakes when records are pending, waits until
//! `group_commit_interval` has passed since its previous round, takes a snapshot (the highest
//! LSN written, the segments to sync), releases the lock, fsyncs the sealed segments, the
//! active one and, if a segment was created, the directory, then relocks and settles every
//! record of the snapshot at once: durable on success, failed on error. Producers keep
//! appending during the fsync; their records go to the next round.
//!
//! Design: on a failed write or fsync, every unsettled record fails (its waiters get
//! [`WalError::NotDurable`], subscribers a [`WalEvent::Failed`]), each unsynced segment is cut
//! back to its last durable length (so no failed record can be replayed later) and the
//! active segment is abandoned: the next append starts a fresh segment. A file whose fsync
//! failed is never trusted again (Linux may have dropped its dirty pages and report the next
//! fsync as successful). Failed LSNs are never reused.

use std::mem;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::config::WalConfig;
use super::error::{Lsn, WalError};
use super::events::{Durability, FailedRanges, WalEvent};
use super::fault::{Faults, IoOp};
use super::segment::{ActiveSegment, sync_dir};
use super::stats::WalStats;

/// A subscriber callback.
pub(crate) type Callback = Box<dyn Fn(&WalEvent) + Send + Sync>;

/// Everything the [`Wal`](super::Wal) handle and the sync thread share.
pub(crate) struct Shared {
    pub(crate) config: WalConfig,
    pub(crate) faults: Faults,
    pub(crate) stats: Arc<WalStats>,
    pub(crate) state: Mutex<State>,
    /// Wakes the sync thread (new records while it is idle, close, drop).
    pub(crate) work: Condvar,
    /// Wakes `wait_durable` callers after each round.
    pub(crate) settled: Condvar,
    /// Mirror of `State::durable_lsn` for lock-free reads.
    pub(crate) durable_lsn: AtomicU64,
    pub(crate) senders: Mutex<Vec<Sender<WalEvent>>>,
    pub(crate) callbacks: Mutex<Vec<Callback>>,
}

/// The mutable state, under one lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The LSN the next append gets.
    pub(crate) next_lsn: Lsn,
    /// Highest LSN written to a segment.
    pub(crate) written_lsn: Lsn,
    /// Highest LSN covered by a successful fsync (failed ones below it excepted).
    pub(crate) durable_lsn: Lsn,
    /// Highest LSN whose fate (durable or failed) is decided.
    pub(crate) settled_lsn: Lsn,
    pub(crate) active: Option<ActiveSegment>,
    /// Segments closed (rotation, failed truncation) with records not yet fsynced.
    pub(crate) sealed: Vec<ActiveSegment>,
    /// Every segment on disk (first LSN, path), sorted.
    pub(crate) segments: Vec<(Lsn, PathBuf)>,
    /// A segment was created since the directory was last fsynced.
    pub(crate) dir_dirty: bool,
    pub(crate) failed: FailedRanges,
    pub(crate) checkpoint: Lsn,
    /// `close`: sync what is pending, then stop.
    pub(crate) closing: bool,
    /// Drop: stop without syncing.
    pub(crate) stop_now: bool,
    /// The sync thread waits for work (appends must wake it).
    pub(crate) sync_idle: bool,
    pub(crate) thread_alive: bool,
    /// Reused encoding buffer.
    pub(crate) scratch: Vec<u8>,
}

impl State {
    fn pending(&self) -> bool {
        self.written_lsn > self.settled_lsn || !self.sealed.is_empty()
    }

    /// What has become of `lsn`.
    pub(crate) fn state_of(&self, lsn: Lsn) -> Durability {
        if lsn == 0 || lsn >= self.next_lsn {
            Durability::Unknown
        } else if self.failed.find(lsn).is_some() {
            Durability::Failed
        } else if lsn <= self.durable_lsn {
            Durability::Durable
        } else {
            Durability::Pending
        }
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves no half-updated invariant worth refusing over.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn deliver(&self, events: &[WalEvent]) {
        let mut senders = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
        let callbacks = self.callbacks.lock().unwrap_or_else(PoisonError::into_inner);
        for event in events {
            senders.retain(|s| s.send(event.clone()).is_ok());
            for callback in callbacks.iter() {
                callback(event);
            }
        }
    }
}

/// What one round syncs, taken under the lock.
struct Round {
    target: Lsn,
    sealed: Vec<ActiveSegment>,
    active: Option<(Lsn, PathBuf, Arc<std::fs::File>, u64)>,
    dir: bool,
}

impl Round {
    fn sync(&self, shared: &Shared) -> Result<(), WalError> {
        let faults = &shared.faults;
        let files = self.sealed.iter().map(|s| (&s.path, &s.file)).chain(self.active.iter().map(|a| (&a.1, &a.2)));
        for (path, file) in files {
            faults.check(IoOp::Sync, path).map_err(|e| WalError::io("fsync", path, e))?;
            file.sync_data().map_err(|e| WalError::io("fsync", path, e))?;
        }
        if self.dir {
            let dir = &shared.config.dir;
            faults.check(IoOp::SyncDir, dir).map_err(|e| WalError::io("fsync directory", dir, e))?;
            sync_dir(dir).map_err(|e| WalError::io("fsync directory", dir, e))?;
        }
        Ok(())
    }
}

/// Marks the thread gone when it exits (even by panic), so waiters stop waiting.
struct AliveGuard<'a>(&'a Shared);

impl Drop for AliveGuard<'_> {
    fn drop(&mut self) {
        self.0.lock().thread_alive = false;
        self.0.settled.notify_all();
    }
}

/// The sync thread's body.
pub(crate) fn run(shared: &Shared) {
    let _alive = AliveGuard(shared);
    let interval = shared.config.group_commit_interval();
    let mut last_round: Option<Instant> = None;
    let mut state = shared.lock();
    loop {
        if state.stop_now || (state.closing && !state.pending()) {
            break;
        }
        if !state.pending() {
            state.sync_idle = true;
            state = shared.work.wait(state).unwrap_or_else(PoisonError::into_inner);
            state.sync_idle = false;
            continue;
        }
        let due = last_round.map(|t| t + interval).filter(|due| !state.closing && *due > Instant::now());
        if let Some(due) = due {
            let wait = due.saturating_duration_since(Instant::now());
            state = shared.work.wait_timeout(state, wait).unwrap_or_else(PoisonError::into_inner).0;
            continue;
        }
        let round = Round {
            target: state.written_lsn,
            sealed: mem::take(&mut state.sealed),
            active: state.active.as_ref().map(|a| (a.first_lsn, a.path.clone(), Arc::clone(&a.file), a.len)),
            dir: mem::take(&mut state.dir_dirty),
        };
        drop(state);
        let started = Instant::now();
        last_round = Some(started);
        let result = round.sync(shared);
        let took = started.elapsed();
        state = shared.lock();
        let events = match result {
            Ok(()) => commit(&mut state, &round, took, shared),
            Err(error) => fail(&mut state, round, &error, shared),
        };
        shared.durable_lsn.store(state.durable_lsn, Ordering::Release);
        shared.settled.notify_all();
        if !events.is_empty() {
            drop(state);
            shared.deliver(&events);
            state = shared.lock();
        }
    }
}

/// A round succeeded: its records are durable.
fn commit(state: &mut State, round: &Round, took: Duration, shared: &Shared) -> Vec<WalEvent> {
    shared.stats.count_fsync(took);
    if let Some((first, _, _, len)) = &round.active {
        // The segment may have been sealed by a rotation during the fsync.
        let segment = state.active.iter_mut().chain(state.sealed.iter_mut()).find(|s| s.first_lsn == *first);
        if let Some(segment) = segment {
            segment.synced_len = segment.synced_len.max(*len);
        }
    }
    state.sealed.retain(|s| s.synced_len < s.len);
    state.settled_lsn = state.settled_lsn.max(round.target);
    if round.target > state.durable_lsn {
        state.durable_lsn = round.target;
        return vec![WalEvent::Durable(round.target)];
    }
    Vec::new()
}

/// A round failed: every unsettled record fails and unsynced bytes are cut.
fn fail(state: &mut State, round: Round, error: &WalError, shared: &Shared) -> Vec<WalEvent> {
    let (first, last) = (state.settled_lsn + 1, state.written_lsn);
    let failed = if last >= first { last - first + 1 } else { 0 };
    shared.stats.count_fsync_error(failed);
    tracing::error!(%error, first, last, records = failed, "WAL fsync failed; these records are not durable and will not be acknowledged");
    let mut events = Vec::new();
    if failed > 0 {
        let reason: Arc<str> = Arc::from(error.to_string());
        state.failed.insert(first, last, Arc::clone(&reason));
        state.settled_lsn = last;
        events.push(WalEvent::Failed { first, last, reason });
    }
    let unsynced = round.sealed.into_iter().chain(mem::take(&mut state.sealed)).chain(state.active.take());
    for mut segment in unsynced {
        let synced = segment.synced_len;
        if let Err(error) = segment.truncate(synced, &shared.faults) {
            shared.stats.count_io_error();
            tracing::error!(%error, "could not cut failed records from a WAL segment; they may be replayed as duplicates");
        }
    }
    state.dir_dirty |= round.dir;
    events
}
