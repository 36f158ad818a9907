//! Segment files: their names (`<first_lsn:020>.wal`, so names sort by LSN), listing them,
//! creating one durably, and the handle of a segment being written.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{Lsn, WalError};
use super::fault::{Faults, IoOp};

/// Extension of segment files.
pub const SEGMENT_EXTENSION: &str = "wal";

/// The file name of the segment whose first record has LSN `first`.
pub fn segment_name(first: Lsn) -> String {
    format!("{first:020}.{SEGMENT_EXTENSION}")
}

/// The first LSN named by a segment file name, or `None` if it is not one.
pub fn parse_segment_name(name: &str) -> Option<Lsn> {
    let digits = name.strip_suffix(SEGMENT_EXTENSION)?.strip_suffix('.')?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir`, sorted by first LSN. Other files are ignored; a `.wal` file with a
/// malformed name is logged and ignored.
pub fn list_segments(dir: &Path) -> Result<Vec<(Lsn, PathBuf)>, WalError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| WalError::io("list", dir, e))? {
        let entry = entry.map_err(|e| WalError::io("list", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        match parse_segment_name(name) {
            Some(first) => out.push((first, entry.path())),
            None if name.ends_with(SEGMENT_EXTENSION) => {
                tracing::warn!(file = %entry.path().display(), "ignoring a .wal file whose name is not <20 digits>.wal");
            }
            None => {}
        }
    }
    out.sort_unstable_by_key(|(first, _)| *first);
    Ok(out)
}

/// fsyncs a directory, making creations, renames and deletions inside it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and missing parents, fsyncing the parent of each directory it creates.
pub fn create_dir_durable(dir: &Path) -> Result<(), WalError> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        create_dir_durable(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(WalError::io("create directory", dir, e)),
    }
    if let Some(parent) = parent {
        sync_dir(parent).map_err(|e| WalError::io("fsync directory", parent, e))?;
    }
    Ok(())
}

/// A segment open for writing: records go at `len`; `synced_len` bytes are known durable.
#[derive(Debug)]
pub(crate) struct ActiveSegment {
    /// LSN of its first record (its name).
    pub(crate) first_lsn: Lsn,
    /// Its path.
    pub(crate) path: PathBuf,
    /// The open file, shared with the sync thread.
    pub(crate) file: Arc<File>,
    /// Bytes written (the offset of the next record).
    pub(crate) len: u64,
    /// Bytes covered by a successful fsync.
    pub(crate) synced_len: u64,
}

impl ActiveSegment {
    /// Creates (or empties) the segment for `first_lsn` in `dir`. Its directory entry is durable
    /// only after the directory is fsynced, which the sync thread does before it reports any
    /// record of it durable. An existing file of that name holds no intact record (the log's
    /// next LSN is past every intact record), so emptying it loses nothing.
    pub(crate) fn create(dir: &Path, first_lsn: Lsn, faults: &Faults) -> Result<ActiveSegment, WalError> {
        let path = dir.join(segment_name(first_lsn));
        faults.check(IoOp::CreateSegment, &path).map_err(|e| WalError::io("create segment", &path, e))?;
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| WalError::io("create segment", &path, e))?;
        Ok(ActiveSegment { first_lsn, path, file: Arc::new(file), len: 0, synced_len: 0 })
    }

    /// Cuts the file back to `len` bytes (its last good offset after a failed write, or its
    /// durable length after a failed fsync), so no record beyond it can be replayed later.
    pub(crate) fn truncate(&mut self, len: u64, faults: &Faults) -> Result<(), WalError> {
        faults.check(IoOp::Truncate, &self.path).map_err(|e| WalError::io("truncate", &self.path, e))?;
        self.file.set_len(len).map_err(|e| WalError::io("truncate", &self.path, e))?;
        self.len = len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_lsn_and_parse_back() {
        assert_eq!(segment_name(1), "00000000000000000001.wal");
        assert_eq!(parse_segment_name("00000000000000000001.wal"), Some(1));
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        for bad in [
            "1.wal",
            "0000000000000000000a.wal",
            "00000000000000000001.wal.tmp",
            "checkpoint",
            "99999999999999999999.wal",
        ] {
            assert_eq!(parse_segment_name(bad), None, "{bad}");
        }
    }
}
