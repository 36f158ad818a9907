//! The swap: merged files replace the files they were merged from, atomically for queries
//! and recoverably after a crash.
//!
//! Steps, each a [`Step`] a test hook can stop at as a crash would:
//!
//! 1. the merged files are staged (complete, fsynced, hidden) — [`Step::Staged`];
//! 2. the intent file is written and fsynced — [`Step::IntentWritten`];
//! 3. the read lock is taken exclusively (waiting for running queries, at most
//!    `swap_timeout_ms`; on timeout the staged files and the intent are removed);
//! 4. each staged file is renamed to its final name — [`Step::Renamed`]`(n)`; the directory
//!    is fsynced — [`Step::AllRenamed`];
//! 5. each old file is deleted — [`Step::Removed`]`(n)`; the directory is fsynced —
//!    [`Step::AllRemoved`];
//! 6. the lock is released and the intent deleted.
//!
//! Queries hold the read lock shared for their whole run, so none sees the directory between
//! steps 3 and 6: each sees either every old file or every new one, so every row exactly
//! once. A crash anywhere is repaired by [`recover`](super::recover): before the last rename
//! it undoes the swap, after it it finishes the swap.

use std::fs;
use std::path::Path;

use crate::layout::sync_dir;
use crate::schema::Table;

use super::error::{CompactionError, Result};
use super::intent::{Intent, remove_file, remove_intent, staged_path};
use super::lock::SwapGuard;
use super::output::StagedFile;

/// A point in the swap (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The merged files are staged; nothing else written.
    Staged,
    /// The intent is durable; no file renamed yet.
    IntentWritten,
    /// This many merged files are renamed into place.
    Renamed(usize),
    /// Every merged file is in place (and the directory fsynced); no old file deleted yet.
    AllRenamed,
    /// This many old files are deleted.
    Removed(usize),
    /// Every old file is deleted (and the directory fsynced); the intent is still there.
    AllRemoved,
}

/// A test hook called after each step; `true` stops the swap there as a crash would.
pub(crate) type Hook<'a> = &'a dyn Fn(Step) -> bool;

fn checkpoint(hook: Hook<'_>, step: Step) -> Result<()> {
    if hook(step) { Err(CompactionError::Interrupted(step)) } else { Ok(()) }
}

/// Replaces `old` (file names in partition directory `dir`) by the `staged` files (see the
/// module docs). On an error before the first rename, the staged files and the intent are
/// removed and the old files stay; after it, the intent stays for recovery.
pub(crate) fn swap(
    data_dir: &Path,
    dir: &Path,
    table: Table,
    staged: &[StagedFile],
    old: &[String],
    lock_timeout: std::time::Duration,
    hook: Hook<'_>,
) -> Result<()> {
    checkpoint(hook, Step::Staged)?;
    let new_names: Vec<String> = staged.iter().map(|f| f.name.clone()).collect();
    if let Err(e) = Intent::new(table, new_names, old.to_vec()).write(dir) {
        discard(dir, staged, 0);
        return Err(e);
    }
    checkpoint(hook, Step::IntentWritten)?;
    let guard = match SwapGuard::exclusive(data_dir, lock_timeout) {
        Ok(guard) => guard,
        Err(e) => {
            discard(dir, staged, 0);
            return Err(e);
        }
    };
    for (i, file) in staged.iter().enumerate() {
        let (from, to) = (staged_path(dir, &file.name), dir.join(&file.name));
        let renamed = if to.exists() {
            Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "target file already exists"))
        } else {
            fs::rename(&from, &to)
        };
        if let Err(e) = renamed {
            discard(dir, staged, i);
            return Err(CompactionError::io(&to, e));
        }
        checkpoint(hook, Step::Renamed(i + 1))?;
    }
    if let Err(e) = sync_dir(dir) {
        discard(dir, staged, staged.len());
        return Err(e.into());
    }
    checkpoint(hook, Step::AllRenamed)?;
    // Past the point of no return: an error now leaves the intent for recovery to finish
    // (until then, queries may see the rows of an old file not yet deleted twice).
    for (i, name) in old.iter().enumerate() {
        remove_file(&dir.join(name))?;
        checkpoint(hook, Step::Removed(i + 1))?;
    }
    sync_dir(dir)?;
    checkpoint(hook, Step::AllRemoved)?;
    drop(guard);
    remove_intent(dir)
}

/// Undoes a swap that has not passed its last rename: deletes the first `renamed` files from
/// their final names, every staged file and the intent. What cannot be deleted is logged and
/// left to recovery (the intent goes last, so recovery sees it).
fn discard(dir: &Path, staged: &[StagedFile], renamed: usize) {
    let mut clean = true;
    for (i, file) in staged.iter().enumerate() {
        let path = if i < renamed { dir.join(&file.name) } else { staged_path(dir, &file.name) };
        if let Err(error) = remove_file(&path) {
            tracing::error!(%error, "Could not remove a merged file of an abandoned compaction; recovery will");
            clean = false;
        }
    }
    if clean && let Err(error) = sync_dir(dir).map_err(CompactionError::from).and_then(|()| remove_intent(dir)) {
        tracing::error!(%error, "Could not remove the intent of an abandoned compaction; recovery will");
    }
}
