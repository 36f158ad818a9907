//! The locks that make a compaction's swap atomic for queries, and keep compactions apart.
//! All are `flock(2)` (std's `File::lock*`), released by the kernel when their holder dies, so
//! a crash never leaves one held.
//!
//! - The **read lock** is on the data directory itself: every
//!   [`QuerySession::sql`](crate::QuerySession::sql) holds it shared from planning (when
//!   DataFusion lists the files) to its last batch (when it has read them); a compaction holds
//!   it exclusively only for its swap (renames, unlinks, directory fsync), so a query sees
//!   either every old file or every new one.
//! - The **gate**, `<data_dir>/.wardstream-swap.lock`, gives a waiting swap priority: a query
//!   takes the read lock while holding the gate shared (a moment); a swap takes the gate
//!   exclusively first, so new queries wait while the swap waits for the running ones to end.
//!   Without it, back-to-back queries (`flock` has no writer preference) would keep the read
//!   lock shared forever and the swap would never get it.
//! - `<data_dir>/.wardstream-compaction.lock`, held exclusively for a whole compaction (and
//!   for recovery), so two compactors never work on the same partitions and recovery never
//!   undoes a live compaction.
//!
//! Design: the read lock is on the directory rather than on a lock file, so that a query
//! never has to create anything (analysts may have read-only access) and there is no window
//! where a query finds no lock file while the first compaction creates one. The gate is only
//! about fairness: a query skips it when it does not exist yet. A swap waits at most
//! `swap_timeout_ms` for running queries, then gives up (and retries on its next run): that
//! bounds how long new queries can be held at the gate behind a long-running query. Any
//! process can take part: `flock(<data_dir>, LOCK_SH)` for the duration of its reads.

// `File::lock*` are stable since Rust 1.89; the toolchain is 1.95 but the workspace still
// declares `rust-version = "1.85"` (to be raised: see the compaction report).
#![allow(clippy::incompatible_msrv)]

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use datafusion::common::runtime::SpawnedTask;

use super::error::{CompactionError, Result};

/// Name of the compaction lock file in the data directory.
pub const COMPACTION_LOCK_FILE: &str = ".wardstream-compaction.lock";

/// Name of the gate file in the data directory.
pub const GATE_FILE: &str = ".wardstream-swap.lock";

/// Longest pause between two attempts at an exclusive lock.
const MAX_BACKOFF: Duration = Duration::from_millis(10);

/// A shared hold on the read lock, released when dropped. Holds nothing when the lock could
/// not be taken (see [`ReadGuard::shared`]).
#[derive(Debug)]
pub struct ReadGuard {
    file: Option<File>,
}

impl ReadGuard {
    /// Takes the read lock of `data_dir` shared, waiting while a swap is pending or running.
    /// Blocks the thread: async code uses [`ReadGuard::acquire`]. When the directory cannot be
    /// opened or locked (a filesystem without `flock`), the query runs unlocked and a warning
    /// is logged once per process: it may then see a partition twice or not at all for the
    /// instant of a swap, as external readers do.
    pub fn shared(data_dir: &Path) -> ReadGuard {
        let gate = match File::open(data_dir.join(GATE_FILE)) {
            Ok(gate) => gate.lock_shared().map(|()| Some(gate)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        };
        let locked = gate.and_then(|_gate| {
            let file = File::open(data_dir)?;
            file.lock_shared()?;
            Ok(file) // the gate is released here, the read lock kept
        });
        match locked {
            Ok(file) => ReadGuard { file: Some(file) },
            Err(error) => {
                static WARNED: AtomicBool = AtomicBool::new(false);
                if !WARNED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, path = %data_dir.display(), "Queries run without the read lock; a compaction's swap may show a partition twice or not at all");
                }
                ReadGuard { file: None }
            }
        }
    }

    /// [`ReadGuard::shared`] on a blocking thread of the Tokio runtime, so that a query
    /// waiting for a swap does not hold up a runtime worker.
    pub async fn acquire(data_dir: &Path) -> ReadGuard {
        let dir = data_dir.to_path_buf();
        match SpawnedTask::spawn_blocking(move || ReadGuard::shared(&dir)).join().await {
            Ok(guard) => guard,
            // Only a panic or a runtime shutting down gets here: lock in place.
            Err(_) => ReadGuard::shared(data_dir),
        }
    }

    /// Whether the lock is held.
    pub fn is_held(&self) -> bool {
        self.file.is_some()
    }
}

/// An exclusive hold on the gate and the read lock (the swap), released when dropped.
#[derive(Debug)]
pub(crate) struct SwapGuard {
    _read: File,
    _gate: File,
}

impl SwapGuard {
    /// Takes the gate, then the read lock of `data_dir`, exclusively, retrying with backoff
    /// for at most `timeout` in all (see the module docs).
    pub(crate) fn exclusive(data_dir: &Path, timeout: Duration) -> Result<SwapGuard> {
        let start = Instant::now();
        let gate_path = data_dir.join(GATE_FILE);
        let gate = open_or_create(&gate_path)?;
        lock_before(&gate, &gate_path, start, timeout)?;
        let read = File::open(data_dir).map_err(|e| CompactionError::io(data_dir, e))?;
        lock_before(&read, data_dir, start, timeout)?;
        Ok(SwapGuard { _read: read, _gate: gate })
    }
}

/// Takes `file`'s lock exclusively, retrying until `timeout` after `start`.
fn lock_before(file: &File, path: &Path, start: Instant, timeout: Duration) -> Result<()> {
    let mut pause = Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(CompactionError::io(path, e)),
        }
        if start.elapsed() >= timeout {
            let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            return Err(CompactionError::LockTimeout { path: path.to_path_buf(), timeout_ms });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(MAX_BACKOFF);
    }
}

/// The compaction lock, held for a whole compaction or recovery; released when dropped.
#[derive(Debug)]
pub(crate) struct CompactionGuard {
    _file: File,
}

impl CompactionGuard {
    /// Takes the compaction lock of `data_dir`, or fails at once with
    /// [`CompactionError::Busy`] when another compaction holds it.
    pub(crate) fn try_acquire(data_dir: &Path) -> Result<CompactionGuard> {
        let path: PathBuf = data_dir.join(COMPACTION_LOCK_FILE);
        let file = open_or_create(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(CompactionGuard { _file: file }),
            Err(TryLockError::WouldBlock) => Err(CompactionError::Busy { path }),
            Err(TryLockError::Error(e)) => Err(CompactionError::io(&path, e)),
        }
    }
}

fn open_or_create(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| CompactionError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_waits_for_shared_holders_and_gives_up_after_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let reader = ReadGuard::shared(dir.path());
        assert!(reader.is_held());
        assert!(ReadGuard::shared(dir.path()).is_held(), "readers share the lock");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "readers create nothing");
        let err = SwapGuard::exclusive(dir.path(), Duration::from_millis(30)).unwrap_err();
        assert!(matches!(err, CompactionError::LockTimeout { timeout_ms: 30, .. }), "{err}");
        drop(reader);
        let swap = SwapGuard::exclusive(dir.path(), Duration::from_millis(30)).unwrap();
        let waiter = std::thread::spawn({
            let dir = dir.path().to_path_buf();
            move || {
                let _guard = ReadGuard::shared(&dir);
                Instant::now()
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        let released = Instant::now();
        drop(swap);
        assert!(waiter.join().unwrap() >= released, "the reader waited for the swap");
    }

    #[test]
    fn a_waiting_swap_holds_new_readers_back_until_it_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let running = ReadGuard::shared(dir.path());
        let swapper = std::thread::spawn({
            let dir = dir.path().to_path_buf();
            move || {
                let swap = SwapGuard::exclusive(&dir, Duration::from_secs(5)).unwrap();
                std::thread::sleep(Duration::from_millis(100));
                drop(swap);
                Instant::now()
            }
        });
        // Wait until the swap holds the gate (it then waits for `running` at the read lock).
        let gate_held = || {
            File::open(dir.path().join(GATE_FILE))
                .is_ok_and(|g| matches!(g.try_lock_shared(), Err(TryLockError::WouldBlock)))
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !gate_held() {
            assert!(Instant::now() < deadline, "the swap never took the gate");
            std::thread::sleep(Duration::from_millis(5));
        }
        let newcomer = std::thread::spawn({
            let dir = dir.path().to_path_buf();
            move || {
                let _guard = ReadGuard::shared(&dir);
                Instant::now()
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        assert!(!newcomer.is_finished(), "a new reader waits behind the pending swap");
        drop(running);
        let (swapped, admitted) = (swapper.join().unwrap(), newcomer.join().unwrap());
        assert!(admitted >= swapped, "the new reader got in after the swap");
    }

    #[test]
    fn only_one_compaction_holds_the_compaction_lock() {
        let dir = tempfile::tempdir().unwrap();
        let first = CompactionGuard::try_acquire(dir.path()).unwrap();
        let err = CompactionGuard::try_acquire(dir.path()).unwrap_err();
        assert!(matches!(err, CompactionError::Busy { .. }), "{err}");
        drop(first);
        assert!(CompactionGuard::try_acquire(dir.path()).is_ok());
    }
}
