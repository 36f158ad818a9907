//! The intent file that makes a swap crash-safe, and recovery from an interrupted swap.
//!
//! Before its first rename, a swap writes `.compaction-intent.json` into the partition
//! directory (atomically: temp file, fsync, rename, directory fsync) naming the new files and
//! the old ones; it deletes it once the old files are gone. Recovery
//! ([`recover`], run by [`ParquetStore::open`](crate::ParquetStore::open) and at the start of
//! every compaction, under the compaction lock and, for each intent, the exclusive read lock):
//!
//! - intent present and **every** new file present under its final name: the swap got past
//!   its last rename (renames are fsynced before any old file is deleted), so it is finished:
//!   the old files still there are deleted;
//! - intent present and some new file missing: the swap stopped before its last rename and no
//!   old file was deleted, so it is undone: the new files already renamed are deleted;
//! - then the intent is deleted. Staged files (`.….compacting`) left by a compaction that died
//!   before or during its swap are deleted too. Recovery is idempotent.
//!
//! An intent that cannot be read or names something other than plain `*.parquet` file names
//! is left alone, with its files, and logged as an error: compaction then refuses that
//! partition until an operator resolves it.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::layout::{PARQUET_EXTENSION, TEMP_SUFFIX, sync_dir, table_dir};
use crate::schema::Table;

use super::error::{CompactionError, Result};
use super::lock::{CompactionGuard, SwapGuard};
use super::output::{STAGED_SUFFIX, remove_quietly, staged_name};

/// Name of the intent file in a partition directory.
pub const INTENT_FILE: &str = ".compaction-intent.json";

/// Version of the intent file format.
const INTENT_VERSION: u32 = 1;

/// How long recovery at open waits for running queries before leaving the intents to the
/// next compaction.
const RECOVERY_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a swap is about to do, as written to [`INTENT_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Intent {
    /// Format version ([`INTENT_VERSION`]).
    pub version: u32,
    /// The table (for people reading the file).
    pub table: String,
    /// Final names of the merged files.
    pub new_files: Vec<String>,
    /// Names of the files they replace.
    pub old_files: Vec<String>,
}

impl Intent {
    /// The intent of replacing `old_files` by `new_files` in a partition of `table`.
    pub(crate) fn new(table: Table, new_files: Vec<String>, old_files: Vec<String>) -> Intent {
        Intent { version: INTENT_VERSION, table: table.name().to_string(), new_files, old_files }
    }

    /// Writes the intent into partition directory `dir`, durably (see the module docs).
    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(INTENT_FILE);
        let temp = dir.join(format!("{INTENT_FILE}{TEMP_SUFFIX}"));
        let text = serde_json::to_vec_pretty(self).map_err(|e| CompactionError::io(&temp, e.into()))?;
        let written = fs::write(&temp, text)
            .and_then(|()| fs::File::open(&temp)?.sync_all())
            .and_then(|()| fs::rename(&temp, &path));
        if let Err(e) = written {
            remove_quietly(&temp);
            return Err(CompactionError::io(&path, e));
        }
        Ok(sync_dir(dir)?)
    }

    /// Reads the intent of partition directory `dir`, if there is one.
    fn read(dir: &Path) -> Result<Option<Intent>> {
        let path = dir.join(INTENT_FILE);
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CompactionError::io(&path, e)),
        };
        let invalid =
            |detail: String| CompactionError::io(&path, std::io::Error::new(std::io::ErrorKind::InvalidData, detail));
        let intent: Intent = serde_json::from_slice(&text).map_err(|e| invalid(e.to_string()))?;
        if intent.version != INTENT_VERSION {
            return Err(invalid(format!("unknown intent version {}", intent.version)));
        }
        if let Some(bad) = intent.new_files.iter().chain(&intent.old_files).find(|n| !is_plain_parquet_name(n)) {
            return Err(invalid(format!("not a plain Parquet file name: {bad:?}")));
        }
        Ok(Some(intent))
    }
}

/// Deletes the intent of partition directory `dir` and makes that durable.
pub(crate) fn remove_intent(dir: &Path) -> Result<()> {
    let path = dir.join(INTENT_FILE);
    match fs::remove_file(&path) {
        Ok(()) => Ok(sync_dir(dir)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CompactionError::io(&path, e)),
    }
}

/// Whether partition directory `dir` still has an intent (one recovery could not resolve).
pub(crate) fn has_intent(dir: &Path) -> bool {
    dir.join(INTENT_FILE).exists()
}

fn is_plain_parquet_name(name: &str) -> bool {
    name.ends_with(PARQUET_EXTENSION) && !name.starts_with('.') && !name.contains(['/', '\\', '\0'])
}

/// What recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Partitions whose interrupted swap was finished (old files deleted).
    pub rolled_forward: Vec<PathBuf>,
    /// Partitions whose interrupted swap was undone (new files deleted).
    pub rolled_back: Vec<PathBuf>,
    /// Partitions with an intent that could not be read (left alone; logged).
    pub unreadable: Vec<PathBuf>,
    /// Staged files deleted.
    pub staged_removed: usize,
    /// Whether recovery was skipped: a compaction is running (it recovers itself) or queries
    /// held the read lock too long (the next compaction recovers).
    pub skipped: bool,
}

/// Recovers every partition of `data_dir` (see the module docs), unless a compaction is
/// running. Called by [`ParquetStore::open`](crate::ParquetStore::open). When no partition
/// holds an intent or a staged file, nothing is locked, created or written.
pub fn recover(data_dir: &Path) -> crate::Result<RecoveryReport> {
    if !needs_recovery(data_dir)? {
        return Ok(RecoveryReport::default());
    }
    let recovered =
        CompactionGuard::try_acquire(data_dir).and_then(|_guard| recover_locked(data_dir, RECOVERY_LOCK_TIMEOUT));
    match recovered {
        Ok(report) => Ok(report),
        Err(CompactionError::Storage(e)) => Err(e),
        Err(e) => {
            tracing::warn!(error = %e, "Compaction recovery skipped; the next compaction will do it");
            Ok(RecoveryReport { skipped: true, ..RecoveryReport::default() })
        }
    }
}

/// Recovers every partition of `data_dir`; the caller holds the compaction lock.
pub(crate) fn recover_locked(data_dir: &Path, lock_timeout: std::time::Duration) -> Result<RecoveryReport> {
    let mut report = RecoveryReport::default();
    for dir in partition_dirs(data_dir)? {
        recover_partition(data_dir, &dir, lock_timeout, &mut report)?;
    }
    Ok(report)
}

/// Whether any partition of `data_dir` holds an intent or a staged file.
fn needs_recovery(data_dir: &Path) -> crate::Result<bool> {
    let leftover = |dir: &Path| -> Result<bool> {
        for entry in fs::read_dir(dir).map_err(|e| CompactionError::io(dir, e))? {
            let name = entry.map_err(|e| CompactionError::io(dir, e))?.file_name();
            if name.to_str().is_some_and(|n| n == INTENT_FILE || is_staged_name(n)) {
                return Ok(true);
            }
        }
        Ok(false)
    };
    let scan = || -> Result<bool> {
        for dir in partition_dirs(data_dir)? {
            if leftover(&dir)? {
                return Ok(true);
            }
        }
        Ok(false)
    };
    scan().map_err(|e| match e {
        CompactionError::Storage(e) => e,
        other => crate::Error::io(data_dir, std::io::Error::other(other.to_string())),
    })
}

/// The directories directly under the table directories of `data_dir` (missing tables have
/// none).
fn partition_dirs(data_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for table in Table::ALL {
        let root = table_dir(data_dir, table);
        let entries = match fs::read_dir(&root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(CompactionError::io(&root, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| CompactionError::io(&root, e))?;
            if entry.file_type().map_err(|e| CompactionError::io(entry.path(), e))?.is_dir() {
                dirs.push(entry.path());
            }
        }
    }
    Ok(dirs)
}

fn is_staged_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(STAGED_SUFFIX)
}

fn recover_partition(
    data_dir: &Path,
    dir: &Path,
    lock_timeout: std::time::Duration,
    report: &mut RecoveryReport,
) -> Result<()> {
    match Intent::read(dir) {
        Ok(None) => {}
        Ok(Some(intent)) => {
            let _swap = SwapGuard::exclusive(data_dir, lock_timeout)?;
            let finished = intent.new_files.iter().all(|name| dir.join(name).is_file());
            let doomed = if finished { &intent.old_files } else { &intent.new_files };
            for name in doomed {
                remove_file(&dir.join(name))?;
            }
            sync_dir(dir)?;
            remove_intent(dir)?;
            let (outcome, list) =
                if finished { ("finished", &mut report.rolled_forward) } else { ("undone", &mut report.rolled_back) };
            tracing::warn!(partition = %dir.display(), outcome, new_files = intent.new_files.len(), old_files = intent.old_files.len(), "Recovered an interrupted compaction");
            list.push(dir.to_path_buf());
        }
        Err(error) => {
            tracing::error!(%error, partition = %dir.display(), "Unreadable compaction intent left in place; this partition is not compacted until it is resolved");
            report.unreadable.push(dir.to_path_buf());
        }
    }
    report.staged_removed += remove_staged_files(dir)?;
    Ok(())
}

/// Deletes every staged file in `dir` (the caller holds the compaction lock, so none is
/// live); returns how many.
fn remove_staged_files(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir).map_err(|e| CompactionError::io(dir, e))? {
        let entry = entry.map_err(|e| CompactionError::io(dir, e))?;
        let name = entry.file_name();
        if name.to_str().is_some_and(is_staged_name) {
            remove_file(&entry.path())?;
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Deletes a file; one already gone is fine.
pub(crate) fn remove_file(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CompactionError::io(path, e)),
    }
}

/// The staged path of a new file in `dir` (for cleanup).
pub(crate) fn staged_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(staged_name(name))
}
