//! [`WalError`]: what can go wrong appending to, syncing, replaying or checkpointing the
//! write-ahead log, and the [`Lsn`] type every record is numbered with.

use std::path::PathBuf;

/// A log sequence number: the position of one record in the log. LSNs start at 1 and strictly
/// increase across segments and restarts; they may skip numbers (records whose fsync failed are
/// never reused), so "dense" holds only within one segment.
pub type Lsn = u64;

/// A write-ahead log failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// A filesystem operation failed (write, fsync, create, rename, truncate, read).
    #[error("WAL I/O error ({op}) on {}: {source}", path.display())]
    Io {
        /// What was being done (`write`, `fsync`, `create segment`, …).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The fsync (or write) covering this record failed: it is not durable and must not be
    /// acknowledged. The sender should retry it (redeliver); the log itself carries on.
    #[error("WAL records {first}..={last} are not durable: {reason}")]
    NotDurable {
        /// First LSN of the failed group.
        first: Lsn,
        /// Last LSN of the failed group.
        last: Lsn,
        /// The I/O error that caused it.
        reason: String,
    },
    /// A record body is larger than [`MAX_BODY_BYTES`](crate::wal::MAX_BODY_BYTES).
    #[error("WAL record of {len} bytes is larger than the limit of {max} bytes")]
    RecordTooLarge {
        /// The body length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An LSN that was never handed out by [`Wal::append`](crate::wal::Wal::append).
    #[error("LSN {lsn} was never appended (next LSN is {next})")]
    UnknownLsn {
        /// The LSN asked about.
        lsn: Lsn,
        /// The next LSN the log will hand out.
        next: Lsn,
    },
    /// The log was closed (or dropped) before the record became durable.
    #[error("the WAL is closed")]
    Closed,
    /// The background fsync thread stopped unexpectedly; nothing more can become durable.
    #[error("the WAL sync thread has stopped")]
    SyncThreadStopped,
    /// Every LSN is used (a segment file named near `u64::MAX` was put in the directory).
    #[error("the WAL has run out of LSNs")]
    LsnExhausted,
    /// The configuration is unusable.
    #[error("invalid WAL configuration: {0}")]
    Config(String),
}

impl WalError {
    /// An [`WalError::Io`] about `path`.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> WalError {
        WalError::Io { op, path: path.into(), source }
    }
}
