//! Checkpoints: the checkpoint file holds the LSN up to which every record is in durable
//! Parquet files, so replay starts after it; it is written atomically (temp file, fsync,
//! rename, directory fsync). `checkpoint()` also deletes the segments it covers.
//!
//! Format: 12 bytes, the LSN (u64 LE) then the CRC-32 of those 8 bytes (u32 LE).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::commit::Shared;
use super::error::{Lsn, WalError};
use super::fault::{Faults, IoOp};
use super::segment::sync_dir;

/// Name of the checkpoint file in the log directory.
pub const CHECKPOINT_FILE: &str = "checkpoint";
const CHECKPOINT_TEMP: &str = "checkpoint.tmp";

/// What the checkpoint file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredCheckpoint {
    /// No checkpoint yet: replay everything.
    Missing,
    /// Records up to this LSN are persisted elsewhere.
    At(Lsn),
    /// The file exists but is damaged: replay everything (duplicates over loss).
    Corrupt,
}

/// Reads the checkpoint of the log in `dir`.
pub fn read_checkpoint(dir: &Path) -> Result<StoredCheckpoint, WalError> {
    let path = dir.join(CHECKPOINT_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StoredCheckpoint::Missing),
        Err(e) => return Err(WalError::io("read checkpoint", path, e)),
    };
    let (Some(lsn), Some(crc)) = (bytes.get(0..8), bytes.get(8..12)) else {
        return Ok(StoredCheckpoint::Corrupt);
    };
    let valid = bytes.len() == 12 && crc32fast::hash(lsn) == u32::from_le_bytes(crc.try_into().unwrap_or_default());
    Ok(match (valid, <[u8; 8]>::try_from(lsn)) {
        (true, Ok(lsn)) => StoredCheckpoint::At(u64::from_le_bytes(lsn)),
        _ => StoredCheckpoint::Corrupt,
    })
}

/// Makes `lsn` the durable checkpoint of the log in `dir`.
pub(crate) fn write_checkpoint(dir: &Path, lsn: Lsn, faults: &Faults) -> Result<(), WalError> {
    let temp = dir.join(CHECKPOINT_TEMP);
    let path = dir.join(CHECKPOINT_FILE);
    faults.check(IoOp::Checkpoint, &path).map_err(|e| WalError::io("write checkpoint", &path, e))?;
    let mut bytes = lsn.to_le_bytes().to_vec();
    bytes.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&temp)?;
        file.write_all(&bytes)?;
        file.sync_all()
    };
    write().map_err(|e| WalError::io("write checkpoint", &temp, e))?;
    fs::rename(&temp, &path).map_err(|e| WalError::io("rename checkpoint", &path, e))?;
    sync_dir(dir).map_err(|e| WalError::io("fsync directory", dir, e))
}

/// [`Wal::checkpoint`](super::Wal::checkpoint): deletes the segments whose records are all
/// ≤ `persisted` (never the newest), fsyncs the directory, then writes the checkpoint file.
///
/// Design: segments are deleted before the checkpoint file is written because deleting a
/// fully persisted segment is safe on its own, and on a full disk it frees the space the
/// checkpoint file needs. A crash in between only replays already persisted records again.
pub(crate) fn checkpoint(shared: &Shared, persisted: Lsn) -> Result<usize, WalError> {
    let doomed = {
        let mut state = shared.lock();
        if persisted <= state.checkpoint {
            return Ok(0);
        }
        if persisted >= state.next_lsn {
            return Err(WalError::UnknownLsn { lsn: persisted, next: state.next_lsn });
        }
        // Segment i holds LSNs below segment i+1's first; the newest one is always kept, so its
        // name keeps LSNs increasing across restarts.
        let uppers: Vec<Lsn> = state.segments.iter().skip(1).map(|s| s.0.saturating_sub(1)).collect();
        let doomed_count = uppers.iter().take_while(|upper| **upper <= persisted).count();
        let doomed: Vec<(Lsn, PathBuf)> = state.segments.drain(..doomed_count).collect();
        state.sealed.retain(|s| doomed.iter().all(|(first, _)| *first != s.first_lsn));
        doomed
    };
    let dir = &shared.config.dir;
    let mut deleted = 0;
    for (first, path) in doomed {
        match fs::remove_file(&path) {
            Ok(()) => deleted += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                shared.stats.count_io_error();
                tracing::error!(%error, segment = %path.display(), "could not delete a checkpointed WAL segment");
                let mut state = shared.lock();
                let at = state.segments.partition_point(|s| s.0 < first);
                state.segments.insert(at, (first, path));
            }
        }
    }
    shared.stats.count_segments_deleted(deleted as u64);
    let synced = if deleted > 0 { sync_dir(dir).map_err(|e| WalError::io("fsync directory", dir, e)) } else { Ok(()) };
    synced.and_then(|()| write_checkpoint(dir, persisted, &shared.faults)).inspect_err(|error| {
        shared.stats.count_io_error();
        tracing::error!(%error, persisted, "could not make the WAL checkpoint durable");
    })?;
    shared.lock().checkpoint = persisted;
    shared.stats.count_checkpoint();
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_reads_back_and_damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_checkpoint(dir.path()).unwrap(), StoredCheckpoint::Missing);
        write_checkpoint(dir.path(), 42, &Faults::default()).unwrap();
        assert_eq!(read_checkpoint(dir.path()).unwrap(), StoredCheckpoint::At(42));
        assert!(!dir.path().join(CHECKPOINT_TEMP).exists());
        let mut bytes = fs::read(dir.path().join(CHECKPOINT_FILE)).unwrap();
        bytes[0] ^= 1;
        fs::write(dir.path().join(CHECKPOINT_FILE), &bytes).unwrap();
        assert_eq!(read_checkpoint(dir.path()).unwrap(), StoredCheckpoint::Corrupt);
        fs::write(dir.path().join(CHECKPOINT_FILE), b"short").unwrap();
        assert_eq!(read_checkpoint(dir.path()).unwrap(), StoredCheckpoint::Corrupt);
    }
}
